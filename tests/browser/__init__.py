# A package, so this folder's conftest.py is imported as ``browser.conftest`` and never
# replaces tests/conftest.py as the module named ``conftest`` (tests import from that one).
