"""The drawing board: a web page to draw digits, see predictions, and collect corrections."""
