def describe(actor_input):
    return f"mode={actor_input.get('mode')}"
