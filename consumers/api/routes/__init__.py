"""One module per resource; each exports its `routes`."""
