"""Events in masks: objects, TC tracks, AR objects over time, climatology, heuristic-vs-network scores, figures."""
