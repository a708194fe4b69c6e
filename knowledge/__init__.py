"""The demo knowledge base (Brightcart), shipped inside the package so a plain install answers from it."""
