"""Reference tables the product imports itself from the publishers' files, versioned in its database (CPV)."""
