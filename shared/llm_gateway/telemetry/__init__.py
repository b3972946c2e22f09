"""Per-request metrics: the outermost pipeline layer (:mod:`.layer`) and its EMF writer (:mod:`.metrics`)."""
