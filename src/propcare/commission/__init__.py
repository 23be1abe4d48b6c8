"""Commission for fee collectors (提成制): plans, attribution and settled statements."""
