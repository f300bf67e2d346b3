"""The channel layer under load: settings that keep 500 chat sockets alive (bench/chat_ws.py)."""

from channels.layers import get_channel_layer


def test_a_socket_waiting_for_messages_is_not_cut_by_its_own_read_timeout():
    layer = get_channel_layer()
    pool = layer.create_pool(0)
    # channels_redis blocks this long waiting for a message; redis-py 8 gives up reads after 5 s
    # unless told otherwise, and the consumer dies with a TimeoutError when Redis answers late.
    assert pool.connection_kwargs["socket_timeout"] > layer.brpop_timeout
    # Many sockets leaving at once each take a connection: redis-py refuses, not waits, past its cap.
    assert pool.max_connections >= 1000
