-- The ledger's event store (Aurora MySQL), as its migrations create it.
CREATE TABLE `ledger_events` (
  `stream` varchar(64) NOT NULL,
  `seq` int unsigned NOT NULL,
  `kind` varchar(32) NOT NULL,
  `payload` json DEFAULT NULL,
  `amount` decimal(12,2) DEFAULT NULL,
  `recorded_at` datetime(6) NOT NULL,
  PRIMARY KEY (`stream`, `seq`),
  KEY `by_recorded` (`recorded_at`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
