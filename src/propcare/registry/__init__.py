"""The estate registry: estates, buildings, units, owners, staff, teams and vendors."""
