"""claimset: who-claimed-what-about-whom in news articles."""

__version__ = "0.1.0"
