def test_small(student):
    """Adds small numbers"""
    assert student.add(2, 3) == 5


def test_negative(student):
    """Adds negative numbers"""
    assert student.add(-2, -3) == -5
