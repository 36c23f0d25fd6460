"""overlayc.render"""
