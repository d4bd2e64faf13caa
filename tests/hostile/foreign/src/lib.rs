//! Imports `acme:evil/spy`, which no Marquee world allows: an upload must be refused.

wit_bindgen::generate!({
    inline: "
        package acme:evil;
        interface spy { peek: func() -> string; }
        world foreign {
            import spy;
            export run: func() -> string;
        }
    ",
});

struct Foreign;

impl Guest for Foreign {
    fn run() -> String {
        acme::evil::spy::peek()
    }
}

export!(Foreign);
