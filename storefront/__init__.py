"""Storefront's static side: load a shop kept as Markdown, check it, render it, write it.

The stages run in this order (see ``storefront.builder.build``): read the content tree, parse and
validate every document into records, plan the pages, render them with Jinja2, write them into the
output directory atomically, and index them for search.
"""

__version__ = "0.1.0"
