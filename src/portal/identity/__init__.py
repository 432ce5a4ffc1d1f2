"""Who acts: the principal of a request and the roles (a leaf package: no domain imports)."""
