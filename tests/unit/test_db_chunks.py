from infra.db.dialect import CHUNK, chunks


def test_chunks_cut_items_in_order_into_slices_of_at_most_the_size() -> None:
    assert list(chunks([])) == []
    assert list(chunks([1, 2, 3, 4, 5], 2)) == [[1, 2], [3, 4], [5]]
    assert [len(c) for c in chunks(list(range(2 * CHUNK + 1)))] == [CHUNK, CHUNK, 1]
