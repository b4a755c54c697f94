//! Rendering plans and reports: human, JSON, Markdown. Never reads the environment itself.
