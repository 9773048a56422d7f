# A restore is not imported: it is an action that runs when the resource is
# created. Declare it and apply to perform it.
