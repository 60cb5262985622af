"""Network reports (PRODUCT §2.6): what a trekker can forward to their alderman without editing.

:mod:`~bot.report.period` reads the period people type, :mod:`~bot.report.data` gathers the
figures from the database, :mod:`~bot.report.document` turns them into one plain-text document
model in the network's language, and :mod:`~bot.report.chart`, :mod:`~bot.report.page` (HTML)
and :mod:`~bot.report.pdf` render it. matplotlib and fpdf2 are imported only when a report is
rendered, so starting the bot (and the benchmark's 10,000 networks) does not pay for them.
"""
