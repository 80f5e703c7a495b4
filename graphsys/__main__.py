from graphsys.cli import main

raise SystemExit(main())
