"""Render a story to a campaign-ready MP4: pictures that move, cards, subtitles, sound."""
