import pytest

from tests.world import World


@pytest.mark.parametrize("i", range(8))
async def test_probe_client_world(client, world: World, i):
    r = await client.get("/dps")
    assert r.status_code == 200

@pytest.mark.parametrize("i", range(8))
def test_probe_settings_only(settings, i):
    pass

@pytest.mark.parametrize("i", range(8))
async def test_probe_client_only(client, i):
    pass
