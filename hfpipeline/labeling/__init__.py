"""Local web page where a labeller ranks model responses (see server.py and page.html)."""
