"""Page-time analytics: queries over the page views' views and the summaries derived from them."""
