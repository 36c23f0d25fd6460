"""overlayc.apply"""
