"""Authoring tools for menu authors: routes and their times, the picture, the editor schema.

Each asks the menu model and the renderer; none re-derives a routing rule.
"""
