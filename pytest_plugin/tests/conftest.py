"""The plugin's own tests run users' test files with pytester, in subprocesses."""

pytest_plugins = ["pytester"]
