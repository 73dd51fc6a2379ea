package docinbox

// CleanupBefore lets the tests choose the cutoff to the microsecond.
var CleanupBefore = cleanupBefore
