"""overlayc.observe"""
