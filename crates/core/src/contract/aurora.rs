//! `aurora-failover`: switch over or fail over one global cluster, and poll its progress.
//! (Types to be written with the function.)
