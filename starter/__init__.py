"""Starting and driving deals: the embedded dev server, the deal client and the `funnel` CLI."""
