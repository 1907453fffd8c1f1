"""Forecasting models behind one small interface (see ``models.base.ForecastModel``).

Models never touch the database or the network; ``models.registry`` maps names to classes.
"""
