"""Open311 GeoReport v2 at `/open311/v2/` of `hub serve`: the standard door for city systems, apps and civic
reporting platforms (FixMyStreet's extensions included). See docs/open311.md.
"""
