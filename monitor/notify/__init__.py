"""Alert delivery: formatting (pure), Telegram and console sinks, the outbox sender."""
