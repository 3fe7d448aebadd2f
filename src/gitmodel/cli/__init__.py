"""The click command line: parsing options and printing; everything else is in `commands`.

The only package that imports click. Commands are imported inside each click
function, so `git-model --version` loads none of them.
"""
