"""Training half of the product: FER2013/FERPlus data -> tensors -> checkpoint with metadata."""
