def test_greets(student):
    """Greets by name"""
    assert student.hello("Ada") == "hello, Ada"
