"""Static files of the prediction server (the upload/paste page)."""
