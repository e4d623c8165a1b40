from lmp.cli.main import main

raise SystemExit(main())
