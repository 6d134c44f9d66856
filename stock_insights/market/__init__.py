"""Market data: the universe and KIS data as stored (writes and reads), the facts collection policies
rank stocks by, and the shared KIS access token."""
