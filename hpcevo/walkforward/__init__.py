"""Walk-forward analysis of the trading search: `python -m hpcevo walkforward` (driver.py), its windows
(windows.py), settings (settings.py) and stitched record (record.py)."""
