"""Speech to text and back to the screen: Whisper models, transcription, script alignment, subtitles, redaction."""
