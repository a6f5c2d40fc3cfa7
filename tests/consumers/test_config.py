"""The consumers' sections of the sites config: parsed as documented, errors name the key."""

from __future__ import annotations

from typing import Any

import pytest

from consumers.config import parse_site_config
from snippet.sites import Site, SitesConfigError
from tests.consumers.clickstream import site_table


def site(**sections: Any) -> Site:
    return Site(id="shop", domains=("shop.example",), raw={"domains": ["shop.example"], **sections})


def test_the_replay_config_parses_and_rules_match_as_documented() -> None:
    config = parse_site_config(site(**site_table()))
    assert config.conversions_of("pageview", "", "https://shop.example/product/mug?x=1", {}) == [
        "view_product"
    ]
    assert config.conversions_of("scroll", "50", "https://shop.example/blog/a", {}) == []
    assert config.conversions_of("scroll", "100", "https://shop.example/blog/a", {}) == [
        "read_article"
    ]
    assert config.conversions_of("download", "a.PDF", "https://shop.example/", {}) == []
    assert config.conversions_of("download", "a.pdf", "https://shop.example/", {}) == ["whitepaper"]
    funnel = config.funnel("buy")
    assert funnel is not None and funnel.window_ms == 30 * 60_000
    assert funnel.step_names() == ["view_product", "add_to_cart | reviews_seen", "whitepaper"]
    assert config.weights == {"whitepaper": 30, "add_to_cart": 10, "pricing": 5}


def test_props_must_all_be_equal() -> None:
    config = parse_site_config(
        site(conversions={"pro": {"kind": "custom", "name": "signup", "props": {"plan": "pro"}}})
    )
    assert config.conversions_of("custom", "signup", "/", {"plan": "pro", "x": 1}) == ["pro"]
    assert config.conversions_of("custom", "signup", "/", {"plan": "free"}) == []


@pytest.mark.parametrize(
    ("sections", "message"),
    [
        ({"conversions": {"a": {"name": "x"}}}, "[sites.shop].conversions.a.kind: required"),
        ({"conversions": {"a": {"kind": "tap"}}}, "[sites.shop].conversions.a.kind: 'tap'"),
        ({"conversions": {"a": {"kind": "click", "colour": 1}}}, "conversions.a.colour: unknown"),
        ({"conversions": {"A b": {"kind": "click"}}}, "[sites.shop].conversions.A b: a name"),
        (
            {"conversions": {"a": {"kind": "scroll", "min_depth": 120}}},
            "conversions.a.min_depth: a scroll percentage",
        ),
        (
            {"conversions": {"a": {"kind": "click", "min_depth": 50}}},
            'conversions.a.min_depth: only for kind = "scroll"',
        ),
        ({"conversions": {"a": {"kind": "pageview", "path": "blog"}}}, "conversions.a.path"),
        (
            {"conversions": {"a": {"kind": "click"}}, "funnels": {"f": {"steps": ["a", "b"]}}},
            "[sites.shop].funnels.f.steps[1]: 'b' is not a defined conversion",
        ),
        (
            {"conversions": {"a": {"kind": "click"}}, "funnels": {"f": {"steps": ["a"]}}},
            "[sites.shop].funnels.f.steps: a list of 2-20",
        ),
        (
            {
                "conversions": {"a": {"kind": "click"}},
                "funnels": {"f": {"steps": ["a", "a"], "window": "8d"}},
            },
            "[sites.shop].funnels.f.window: at most 7d",
        ),
        (
            {
                "conversions": {"a": {"kind": "click"}},
                "experiments": {"e": {"variants": ["x", "x"], "conversions": ["a"]}},
            },
            "[sites.shop].experiments.e.variants: 2-20 distinct",
        ),
        (
            {"conversions": {"a": {"kind": "click"}}, "lead_score": {"weights": {"a": 1.5}}},
            "[sites.shop].lead_score.weights.a: a whole number",
        ),
        ({"lead_score": {"weights": {"zz": 1}}}, "lead_score.weights.zz: not a defined"),
    ],
)
def test_errors_name_the_key(sections: dict[str, Any], message: str) -> None:
    with pytest.raises(SitesConfigError) as info:
        parse_site_config(site(**sections))
    assert message in str(info.value)
