"""FlickrHub core runtime."""
