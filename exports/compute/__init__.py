"""Pure code of the exports app (no Django): CSV formatting (`csv`) and the Parquet edition of
a dataset file made from its CSV file (`parquet`)."""
