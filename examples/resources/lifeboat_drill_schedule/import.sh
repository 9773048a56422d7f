# A drill schedule is not imported: declare it and apply.
