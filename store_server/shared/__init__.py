"""What the handheld and the store server share: the protocol's numbers and error
family, GS1 code normalisation and the ASCII-digit check.

Pure: no I/O, no framework, and nothing else of the project is imported here
(stdlib and biip only), so the handheld can depend on it without the server
(tests/test_architecture.py holds this).
"""
