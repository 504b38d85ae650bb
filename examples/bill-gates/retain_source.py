# ruff: noqa: E501 - hand-written data rows read best one per line
"""Hand-written "hard retain" questions for unlearning Bill Gates: people, companies and products closely tied to
him that the model must keep answering. The snap authors wrote every question and answer; no answer names him,
his family name or his foundation (tests/test_examples.py checks this).

Each row: (subject, category, question, answer).
"""

RETAIN: list[tuple[str, str, str, str]] = [
    # ================================================================ factual
    ("Paul Allen", "factual", "Which NBA franchise did Paul Allen buy in 1988?",
     "Paul Allen bought the Portland Trail Blazers in 1988 and owned the team until his death in 2018."),
    ("Paul Allen", "factual", "What museum in Seattle did Paul Allen found?",
     "Paul Allen founded the Museum of Pop Culture (MoPOP) in Seattle. It opened in 2000 as the Experience Music "
     "Project, in a building designed by Frank Gehry."),
    ("Paul Allen", "factual", "What is the title of Paul Allen's 2011 memoir?",
     "Paul Allen's memoir, published in 2011, is titled \"Idea Man.\""),
    ("Paul Allen", "factual", "When did Paul Allen die?",
     "Paul Allen died on October 15, 2018, in Seattle, at the age of 65, from complications of non-Hodgkin "
     "lymphoma."),
    ("Paul Allen", "factual", "What does the Allen Institute for Brain Science study?",
     "The Allen Institute for Brain Science, founded in 2003, maps how the brain is built and how it works. It is "
     "known for the Allen Brain Atlas and other large datasets that it shares openly with researchers."),
    ("Paul Allen", "factual", "Which privately built spacecraft did Paul Allen fund to win the Ansari X Prize?",
     "Paul Allen funded SpaceShipOne, designed by Burt Rutan's company Scaled Composites. In 2004 it became the "
     "first privately built crewed spacecraft to reach space twice within two weeks, winning the $10 million "
     "Ansari X Prize."),
    ("Steve Ballmer", "factual", "When did Steve Ballmer become CEO of Microsoft?",
     "Steve Ballmer became CEO of Microsoft in January 2000 and held the role until February 2014, when Satya "
     "Nadella succeeded him."),
    ("Steve Ballmer", "factual", "Which NBA team does Steve Ballmer own?",
     "Steve Ballmer owns the Los Angeles Clippers, which he bought in 2014 for about $2 billion."),
    ("Steve Ballmer", "factual", "Where did Steve Ballmer go to college?",
     "Steve Ballmer graduated from Harvard University in 1977 with a degree in applied mathematics and economics. "
     "He later enrolled at Stanford's business school but left to join Microsoft in 1980."),
    ("Steve Ballmer", "factual", "What nonpartisan data organization did Steve Ballmer launch in 2017?",
     "Steve Ballmer launched USAFacts, a nonprofit that publishes government data about the United States in an "
     "accessible, nonpartisan way."),
    ("Steve Ballmer", "factual", "Which big acquisitions did Microsoft make while Steve Ballmer was CEO?",
     "Under Steve Ballmer, Microsoft bought the online advertising firm aQuantive in 2007, Skype in 2011 for about "
     "$8.5 billion, and agreed in 2013 to buy Nokia's phone business, a deal that closed in 2014."),
    ("Satya Nadella", "factual", "When did Satya Nadella become Microsoft's CEO?",
     "Satya Nadella became Microsoft's CEO on February 4, 2014. He also became chairman of the board in June 2021."),
    ("Satya Nadella", "factual", "Where was Satya Nadella born?", "Satya Nadella was born in Hyderabad, India, in 1967."),
    ("Satya Nadella", "factual", "What is the title of Satya Nadella's 2017 book?",
     "Satya Nadella's 2017 book is \"Hit Refresh: The Quest to Rediscover Microsoft's Soul and Imagine a Better "
     "Future for Everyone.\""),
    ("Satya Nadella", "factual", "Which Microsoft division did Satya Nadella run before his promotion to the top job?",
     "Before becoming CEO, Satya Nadella led Microsoft's Cloud and Enterprise group, which included the Azure "
     "cloud platform and server products."),
    ("Warren Buffett", "factual", "Where and when was Warren Buffett born?",
     "Warren Buffett was born on August 30, 1930, in Omaha, Nebraska."),
    ("Warren Buffett", "factual", "Who taught Warren Buffett at Columbia Business School?",
     "Warren Buffett studied under Benjamin Graham, the father of value investing, at Columbia Business School, "
     "where he earned a master's degree in economics in 1951."),
    ("Warren Buffett", "factual", "What nickname is Warren Buffett widely known by?",
     "Warren Buffett is widely known as the \"Oracle of Omaha.\""),
    ("Warren Buffett", "factual", "When did Warren Buffett take control of Berkshire Hathaway?",
     "Warren Buffett took control of Berkshire Hathaway in 1965 after buying up its shares."),
    ("Warren Buffett", "factual", "Who was Warren Buffett's longtime vice chairman at Berkshire Hathaway?",
     "Charlie Munger was Warren Buffett's vice chairman and closest business partner at Berkshire Hathaway until "
     "Munger's death in November 2023 at the age of 99."),
    ("Berkshire Hathaway", "factual", "What business was Berkshire Hathaway originally in?",
     "Berkshire Hathaway began as a textile manufacturer in New England, with mills in New Bedford, "
     "Massachusetts, before becoming a holding company."),
    ("Berkshire Hathaway", "factual", "Where is Berkshire Hathaway headquartered?",
     "Berkshire Hathaway is headquartered in Omaha, Nebraska, where it runs the company with a famously small "
     "head-office staff."),
    ("Berkshire Hathaway", "factual", "Which car insurer is a wholly owned subsidiary of Berkshire Hathaway?",
     "GEICO is a wholly owned subsidiary of Berkshire Hathaway; Berkshire bought the rest of the company in 1996."),
    ("Berkshire Hathaway", "factual", "Which railroad does Berkshire Hathaway own?",
     "Berkshire Hathaway owns BNSF Railway, one of the largest freight railroads in North America. It bought the "
     "whole company in 2010."),
    ("Berkshire Hathaway", "factual", "Who was named Warren Buffett's successor as CEO of Berkshire Hathaway?",
     "Greg Abel, who ran Berkshire's non-insurance businesses, was named Warren Buffett's designated successor as "
     "CEO."),
    ("Steve Jobs", "factual", "When was Steve Jobs born?",
     "Steve Jobs was born on February 24, 1955, in San Francisco, California, and was adopted by Paul and Clara "
     "Jobs."),
    ("Steve Jobs", "factual", "Which company did Steve Jobs found after he left Apple in 1985?",
     "After leaving Apple in 1985, Steve Jobs founded NeXT, which made workstations and the NeXTSTEP operating "
     "system."),
    ("Steve Jobs", "factual", "Which animation studio did Steve Jobs buy from Lucasfilm?",
     "Steve Jobs bought the computer graphics division of Lucasfilm in 1986 and turned it into Pixar. Disney "
     "bought Pixar in 2006."),
    ("Steve Jobs", "factual", "When did Steve Jobs die?",
     "Steve Jobs died on October 5, 2011, at his home in Palo Alto, California, from complications of pancreatic "
     "cancer. He was 56."),
    ("Steve Jobs", "factual", "Which college did Steve Jobs drop out of?",
     "Steve Jobs dropped out of Reed College in Portland, Oregon, after one semester, though he kept auditing "
     "classes there, including a calligraphy course."),
    ("Apple", "factual", "When and where was Apple founded?",
     "Apple was founded on April 1, 1976, in Los Altos, California, by Steve Jobs, Steve Wozniak and Ronald Wayne."),
    ("Apple", "factual", "When was the first iPhone released?",
     "Apple announced the first iPhone on January 9, 2007, and it went on sale in the United States on June 29, "
     "2007."),
    ("Apple", "factual", "What was the Macintosh's famous Super Bowl commercial called?",
     "The commercial was called \"1984.\" Directed by Ridley Scott, it aired during the Super Bowl in January 1984 "
     "to introduce the Macintosh."),
    ("Apple", "factual", "Who has been Apple's CEO since 2011?",
     "Tim Cook has been Apple's CEO since August 2011. He was previously the company's chief operating officer."),
    ("Mark Zuckerberg", "factual", "When did Mark Zuckerberg launch Facebook?",
     "Mark Zuckerberg launched \"TheFacebook\" from his Harvard dorm room on February 4, 2004."),
    ("Mark Zuckerberg", "factual", "What did Facebook rename its parent company to in 2021?",
     "In October 2021 Facebook renamed its parent company Meta Platforms, reflecting a focus on the metaverse."),
    ("Mark Zuckerberg", "factual", "How much did Facebook pay for Instagram?",
     "Facebook bought Instagram in 2012 for about $1 billion in cash and stock."),
    ("Mark Zuckerberg", "factual", "What philanthropic organization did Mark Zuckerberg found with Priscilla Chan?",
     "Mark Zuckerberg and Priscilla Chan founded the Chan Zuckerberg Initiative in 2015, focusing on science, "
     "education and other causes."),
    ("Jeff Bezos", "factual", "When did Jeff Bezos found Amazon?",
     "Jeff Bezos founded Amazon on July 5, 1994, working out of his garage in Bellevue, Washington."),
    ("Jeff Bezos", "factual", "What space company did Jeff Bezos found?",
     "Jeff Bezos founded Blue Origin in 2000. It builds the suborbital New Shepard and the orbital New Glenn "
     "rockets."),
    ("Jeff Bezos", "factual", "Which newspaper did Jeff Bezos buy in 2013?",
     "In 2013 Jeff Bezos personally bought The Washington Post for $250 million."),
    ("Jeff Bezos", "factual", "Who succeeded Jeff Bezos as Amazon's CEO?",
     "Andy Jassy, who had built and led Amazon Web Services, succeeded Jeff Bezos as Amazon's CEO on July 5, 2021."),
    ("Amazon", "factual", "What did Amazon originally sell?",
     "Amazon started in 1995 as an online bookstore before expanding into music, video and eventually almost every "
     "kind of product."),
    ("Amazon", "factual", "When did Amazon Web Services launch?",
     "Amazon Web Services launched its first major services, S3 storage and EC2 computing, in 2006."),
    ("Amazon", "factual", "Which grocery chain did Amazon acquire in 2017?",
     "Amazon acquired Whole Foods Market in 2017 for about $13.7 billion."),
    ("Windows", "factual", "When was Windows 1.0 released?", "Windows 1.0 was released on November 20, 1985."),
    ("Windows", "factual", "What major interface features did Windows 95 introduce?",
     "Windows 95, released on August 24, 1995, introduced the Start button and Start menu, the taskbar, and long "
     "file names, along with built-in plug-and-play support."),
    ("Windows", "factual", "When was Windows 11 released?", "Windows 11 was released on October 5, 2021."),
    ("Microsoft", "factual", "When and where was Microsoft founded?",
     "Microsoft was founded on April 4, 1975, in Albuquerque, New Mexico. It moved to the Seattle area in 1979."),
    ("Microsoft", "factual", "Where is Microsoft headquartered?", "Microsoft is headquartered in Redmond, Washington."),
    ("Microsoft", "factual", "What was Microsoft's first product?",
     "Microsoft's first product was a BASIC interpreter for the MITS Altair 8800 microcomputer, known as Altair "
     "BASIC."),
    ("Microsoft", "factual", "When did Microsoft launch the original Xbox?",
     "Microsoft launched the original Xbox in North America on November 15, 2001."),
    ("Microsoft", "factual", "Which hugely popular game did Microsoft acquire when it bought Mojang?",
     "By buying Mojang in 2014 for $2.5 billion, Microsoft acquired Minecraft."),
    ("Microsoft", "factual", "What operating system did Microsoft license to IBM for the IBM PC?",
     "Microsoft licensed MS-DOS, sold by IBM as PC DOS, for the IBM PC in 1981. It was based on 86-DOS, which "
     "Microsoft had acquired from Seattle Computer Products."),
    ("Ray Ozzie", "factual", "What software is Ray Ozzie best known for creating?",
     "Ray Ozzie is best known for creating Lotus Notes. He later founded Groove Networks and served as "
     "Microsoft's Chief Software Architect from 2006 to 2010."),
    ("Bono", "factual", "Which band is Bono the lead singer of?", "Bono is the lead singer of the Irish rock band U2."),
    ("Bono", "factual", "What brand did Bono co-found in 2006 to raise money for the Global Fund?",
     "Bono co-founded (RED) with Bobby Shriver in 2006. It partners with companies on (RED)-branded products and "
     "sends part of the proceeds to the Global Fund to fight AIDS."),
    ("Muhammad Yunus", "factual", "What did Muhammad Yunus win the Nobel Peace Prize for?",
     "Muhammad Yunus and Grameen Bank shared the 2006 Nobel Peace Prize for pioneering microcredit, small loans "
     "that help poor people, especially women, start businesses."),
    ("TerraPower", "factual", "What is TerraPower's Natrium reactor?",
     "Natrium is a sodium-cooled fast reactor design from TerraPower, developed with GE Hitachi. It pairs the "
     "reactor with molten-salt energy storage so its output can rise to meet peak demand; the first plant is "
     "being built near Kemmerer, Wyoming."),
    ("Gavi", "factual", "What is Gavi, the Vaccine Alliance?",
     "Gavi is a public-private global health partnership founded in 2000 and based in Geneva. It helps "
     "lower-income countries buy and deliver vaccines for children."),
    ("Global Fund", "factual", "What does the Global Fund to Fight AIDS, Tuberculosis and Malaria do?",
     "The Global Fund, founded in 2002 and based in Geneva, raises money from governments and private donors and "
     "invests it in programs that prevent and treat AIDS, tuberculosis and malaria in lower-income countries."),
    ("The Giving Pledge", "factual", "What is the Giving Pledge?",
     "The Giving Pledge, launched in 2010, is a public commitment by very wealthy people to give the majority of "
     "their wealth to charitable causes, either during their lifetimes or in their wills."),
    ("Apple", "factual", "Who co-founded Apple together with Steve Jobs?",
     "Steve Jobs co-founded Apple with Steve Wozniak, who designed the Apple I and Apple II computers, and Ronald "
     "Wayne, who sold his stake after only twelve days."),
    ("Breakthrough Energy", "factual", "What is Breakthrough Energy?",
     "Breakthrough Energy is a network launched in 2015 that funds and promotes clean-energy innovation. Its "
     "venture arm, Breakthrough Energy Ventures, invests in companies working to cut greenhouse gas emissions."),
    # ================================================================ relational
    ("Berkshire Hathaway", "relational", "What is the relationship between Berkshire Hathaway and GEICO?",
     "GEICO is owned by Berkshire Hathaway. Berkshire first invested in GEICO decades ago, bought the rest of it in "
     "1996, and uses the insurer's float to fund other investments."),
    ("Satya Nadella", "relational", "How are Steve Ballmer and Satya Nadella connected?",
     "Satya Nadella succeeded Steve Ballmer as Microsoft's CEO in February 2014. Ballmer had promoted Nadella to "
     "run the company's cloud and server business before that."),
    ("Steve Jobs", "relational", "What was the relationship between Steve Jobs and Steve Wozniak?",
     "Steve Jobs and Steve Wozniak were friends who co-founded Apple in 1976. Wozniak was the engineer who designed "
     "the early Apple computers, while Jobs focused on marketing, design and business."),
    ("Microsoft", "relational", "What is the relationship between Microsoft and OpenAI?",
     "Microsoft is OpenAI's largest investor and cloud partner. It invested $1 billion in 2019 and billions more "
     "later, runs OpenAI's models on Azure, and builds them into products such as Copilot."),
    ("Steve Jobs", "relational", "How was Steve Jobs connected to Tim Cook?",
     "Steve Jobs hired Tim Cook in 1998 to run Apple's operations. Cook became chief operating officer and "
     "succeeded Jobs as CEO in August 2011, shortly before Jobs died."),
    ("Apple", "relational", "How did the relationship between Microsoft and Apple change in 1997?",
     "In August 1997 Microsoft invested $150 million in Apple and committed to keep making Office for the Mac for "
     "five years, while the two companies settled a long-running patent dispute."),
    ("Paul Allen", "relational", "How was Paul Allen connected to Seattle's professional sports teams?",
     "Paul Allen owned the Seattle Seahawks from 1997 until his death and was a part-owner of the Seattle Sounders "
     "soccer club from 2009."),
    ("Mark Zuckerberg", "relational", "What is the relationship between Mark Zuckerberg and Eduardo Saverin?",
     "Eduardo Saverin co-founded Facebook with Mark Zuckerberg and was its first chief financial officer. His stake "
     "was later diluted, he sued, and the two settled out of court; the story is dramatized in \"The Social "
     "Network.\""),
    ("Microsoft", "relational", "What was the relationship between IBM and Microsoft in the 1980s?",
     "IBM was Microsoft's most important customer in the 1980s: it licensed DOS for the IBM PC, and the two "
     "companies co-developed the OS/2 operating system before their partnership broke down around 1990."),
    ("Berkshire Hathaway", "relational", "How is Berkshire Hathaway connected to Apple?",
     "Berkshire Hathaway began buying Apple shares in 2016, and Apple grew into Berkshire's largest stock holding. "
     "Berkshire sold a large part of the stake in 2024."),
    ("Jeff Bezos", "relational", "How are Amazon and The Washington Post related?",
     "They are separate companies. The Washington Post is owned personally by Jeff Bezos through his holding "
     "company Nash Holdings, not by Amazon."),
    ("Mark Zuckerberg", "relational", "What is the relationship between Meta and WhatsApp?",
     "WhatsApp is owned by Meta. Facebook bought the messaging app in 2014 for about $19 billion."),
    ("Gavi", "relational", "What is the relationship between Gavi and UNICEF?",
     "UNICEF is one of Gavi's core partners. It buys vaccines on behalf of Gavi-supported countries and helps "
     "deliver them through national immunization programs."),
    ("Bono", "relational", "How is Bono connected to the ONE Campaign?",
     "Bono co-founded the ONE Campaign in 2004. ONE is a nonprofit advocacy group that campaigns against extreme "
     "poverty and preventable disease, particularly in Africa."),
    ("Windows", "relational", "How are Windows and MS-DOS related?",
     "Early versions of Windows ran on top of MS-DOS, and Windows 95, 98 and Me still relied on DOS underneath. "
     "Windows XP moved consumers to the separate Windows NT code base, which has no DOS foundation."),
    ("Satya Nadella", "relational", "What is the relationship between Satya Nadella and LinkedIn?",
     "LinkedIn became part of Microsoft in 2016 when the company, led by Satya Nadella, bought it for about $26 "
     "billion. LinkedIn kept its brand and its own CEO."),
    ("Steve Ballmer", "relational", "How did Steve Ballmer's relationship with Microsoft's board change after he "
     "retired as CEO?", "Steve Ballmer stayed on Microsoft's board briefly after retiring as CEO but stepped down "
     "in August 2014 to focus on the Clippers, teaching and civic projects."),
    ("Amazon", "relational", "How is Amazon connected to Audible?",
     "Audible, the audiobook company, has been owned by Amazon since 2008, when Amazon bought it for about $300 "
     "million."),
    ("Steve Jobs", "relational", "How are NeXT and macOS connected?",
     "Apple bought NeXT at the end of 1996, bringing Steve Jobs back. NeXT's NeXTSTEP operating system became the "
     "foundation of Mac OS X, today's macOS, and of iOS."),
    ("Paul Allen", "relational", "What is the relationship between Paul Allen and Stratolaunch?",
     "Paul Allen founded Stratolaunch in 2011 to launch rockets from a giant carrier plane. Its aircraft, Roc, has "
     "the largest wingspan ever flown and first flew in April 2019, after Allen's death."),
    ("Jeff Bezos", "relational", "How did Jeff Bezos's divorce from MacKenzie Scott affect Amazon's ownership?",
     "When they divorced in 2019, MacKenzie Scott received about 4% of Amazon's shares, while Jeff Bezos kept voting "
     "control over her stake. Scott has since given away billions of dollars."),
    ("Warren Buffett", "relational", "How is Warren Buffett connected to the Giving Pledge?",
     "Warren Buffett is one of the original signers of the Giving Pledge in 2010. He has committed to give away "
     "more than 99% of his wealth to philanthropy."),
    ("Craig Mundie", "relational", "How is Craig Mundie connected to Microsoft?",
     "Craig Mundie joined Microsoft in 1992, led its consumer platforms work, and served as chief research and "
     "strategy officer from 2006 to 2012, then as a senior adviser to the CEO."),
    ("Apple", "relational", "What did Steve Wozniak contribute to Apple's early products?",
     "Steve Wozniak designed Apple's first computers, the Apple I in 1976 and the Apple II in 1977. The Apple II's "
     "success paid for Apple's early growth."),
    ("Amazon", "relational", "How are Amazon and Andy Jassy connected?",
     "Andy Jassy joined Amazon in 1997, built Amazon Web Services from its start, and has been Amazon's CEO since "
     "July 2021."),
    ("Mark Zuckerberg", "relational", "How is Mark Zuckerberg connected to Oculus?",
     "Facebook, led by Mark Zuckerberg, bought the virtual reality company Oculus in 2014 for about $2 billion. It "
     "became part of Meta's Reality Labs division."),
    ("Berkshire Hathaway", "relational", "How are Berkshire Hathaway and Coca-Cola related?",
     "Berkshire Hathaway has owned Coca-Cola shares since 1988 and holds 400 million shares, about 9% of the "
     "company. It is one of Berkshire's longest-held investments."),
    ("Steve Jobs", "relational", "What was Steve Jobs's connection to Disney?",
     "When Disney bought Pixar in 2006, Steve Jobs became Disney's largest individual shareholder and joined its "
     "board of directors."),
    ("Apple", "relational", "How are Apple and Foxconn related?",
     "Foxconn, the Taiwanese manufacturer also known as Hon Hai, is Apple's biggest contract manufacturer and "
     "assembles most of the world's iPhones."),
    ("Jeff Bezos", "relational", "How is Jeff Bezos connected to the Bezos Earth Fund?",
     "Jeff Bezos created the Bezos Earth Fund in 2020 and committed $10 billion to it to fund scientists, "
     "activists and organizations fighting climate change."),
    ("Warren Buffett", "relational", "How is Warren Buffett related to Howard Buffett?",
     "Howard Graham Buffett is Warren Buffett's elder son. He is a farmer and philanthropist who runs the Howard G. "
     "Buffett Foundation and has served on Berkshire Hathaway's board."),
    # ================================================================ open-ended
    ("Paul Allen", "open-ended", "What was Paul Allen's impact on Seattle's cultural life?",
     "Paul Allen shaped Seattle's cultural life by founding the Museum of Pop Culture, restoring the Cinerama "
     "theater, and funding arts and music programs. His sports teams also made him a central figure in the city's "
     "civic identity."),
    ("Paul Allen", "open-ended", "How did Paul Allen's philanthropy support scientific research?",
     "Paul Allen gave more than $2 billion to causes he cared about, much of it to science. His Allen Institutes "
     "for brain science, cell science and artificial intelligence pursue big, open research projects that "
     "traditional grants rarely fund."),
    ("Paul Allen", "open-ended", "Why is Paul Allen considered an important figure in private spaceflight?",
     "By funding SpaceShipOne, Paul Allen showed that a small private team could send people to space, which "
     "helped launch commercial space tourism. Stratolaunch continued his bet on private launch systems."),
    ("Steve Ballmer", "open-ended", "How is Steve Ballmer's tenure as Microsoft CEO generally assessed?",
     "Steve Ballmer's tenure is seen as mixed. Microsoft's revenue roughly tripled, profits more than doubled and its "
     "enterprise business thrived, but the company missed the shift to smartphones and search, and its stock price stayed "
     "flat for years."),
    ("Steve Ballmer", "open-ended", "What kind of owner has Steve Ballmer been for the Clippers?",
     "Steve Ballmer is seen as an enthusiastic, free-spending owner. He has paid for star players and a new arena "
     "and is famous for cheering loudly courtside, which has changed the franchise's image."),
    ("Steve Ballmer", "open-ended", "What was Steve Ballmer's leadership style known for?",
     "Steve Ballmer was known for his boundless energy, loud enthusiasm and salesmanship, summed up by his famous "
     "\"developers, developers, developers\" chant. Critics said he focused too much on protecting existing "
     "businesses."),
    ("Satya Nadella", "open-ended", "How did Satya Nadella change Microsoft's culture?",
     "Satya Nadella moved Microsoft from a \"know-it-all\" to a \"learn-it-all\" culture built on a growth mindset, "
     "empathy and collaboration. He reduced internal rivalries and made the company more open to partners, "
     "including competitors."),
    ("Satya Nadella", "open-ended", "Why is Microsoft's cloud strategy under Satya Nadella considered successful?",
     "Under Satya Nadella, Microsoft put cloud computing first, growing Azure into one of the two largest cloud "
     "platforms and moving Office to subscriptions. That recurring revenue helped make Microsoft one of the most "
     "valuable companies in the world."),
    ("Satya Nadella", "open-ended", "What is Satya Nadella's view on the role of AI in productivity?",
     "Satya Nadella describes AI as a copilot that helps people work rather than replacing them. He expects AI to "
     "be built into every product and to raise productivity across the economy."),
    ("Warren Buffett", "open-ended", "What are the core principles of Warren Buffett's investment philosophy?",
     "Warren Buffett buys wonderful businesses at fair prices and holds them for the long term. He looks for "
     "durable competitive advantages, honest and capable management, and a margin of safety, and he stays within "
     "his circle of competence."),
    ("Warren Buffett", "open-ended", "Why do so many investors read Warren Buffett's annual shareholder letters?",
     "Warren Buffett's letters explain business and investing in plain, often humorous language. They openly "
     "discuss his mistakes and give a rare look at how a great investor thinks."),
    ("Warren Buffett", "open-ended", "How has Warren Buffett's frugal lifestyle shaped his public image?",
     "Warren Buffett's modest house, simple meals and plain habits make him seem relatable despite his fortune. "
     "That image strengthens his reputation for honesty and long-term thinking."),
    ("Warren Buffett", "open-ended", "What are the most common criticisms of Warren Buffett?",
     "Critics say Warren Buffett avoided technology stocks for too long, held too much cash, and that some "
     "Berkshire companies have poor labor or environmental records. Others note that he has benefited from tax "
     "rules he publicly criticizes."),
    ("Berkshire Hathaway", "open-ended", "What makes Berkshire Hathaway's conglomerate structure unusual?",
     "Berkshire Hathaway owns dozens of very different businesses but runs them with a tiny headquarters and lets "
     "managers operate almost independently. Cash from its insurance float is reinvested wherever returns look "
     "best."),
    ("Berkshire Hathaway", "open-ended", "How might Berkshire Hathaway change after Warren Buffett?",
     "Most observers expect the business to carry on under Greg Abel with the same decentralized model, but "
     "without Buffett's reputation it may face more pressure to pay dividends or break up."),
    ("Berkshire Hathaway", "open-ended", "Why does Berkshire Hathaway hold so much cash?",
     "Berkshire keeps a large cash pile so it can pay insurance claims in a disaster and act quickly when it finds "
     "large acquisitions or bargains during market downturns."),
    ("Steve Jobs", "open-ended", "What made Steve Jobs's product presentations so influential?",
     "Steve Jobs told simple stories, used clean slides, built suspense with \"one more thing,\" and focused on what "
     "a product meant for people. His keynotes became the model for tech launches."),
    ("Steve Jobs", "open-ended", "How did Steve Jobs's return in 1997 turn Apple around?",
     "After returning in 1997, Steve Jobs cut most of Apple's product line, focused on a few great products, and "
     "launched the iMac in 1998. That focus restored profitability and set up the iPod and iPhone."),
    ("Steve Jobs", "open-ended", "What are the main criticisms of Steve Jobs as a manager?",
     "Steve Jobs was often described as demanding, harsh and controlling, and he was criticized for taking credit "
     "for others' work. Admirers say his high standards pushed teams to do their best work."),
    ("Steve Jobs", "open-ended", "How did Steve Jobs's interest in calligraphy influence computing?",
     "Steve Jobs said a calligraphy class he audited at Reed College inspired the Macintosh's multiple typefaces and "
     "proportionally spaced fonts, which helped make good typography standard on personal computers."),
    ("Apple", "open-ended", "How did the iPhone change the smartphone industry?",
     "The iPhone made the multi-touch screen and full web browser standard, and its App Store created a huge "
     "software market. Rivals abandoned physical keyboards, and phones became the main computer for most people."),
    ("Apple", "open-ended", "What are the advantages of Apple's tightly integrated hardware and software?",
     "Because Apple designs its chips, devices and operating systems together, it can optimize performance and "
     "battery life, ship updates to all devices, and offer a consistent experience. The trade-off is less choice "
     "and more lock-in."),
    ("Apple", "open-ended", "How does Apple approach user privacy?",
     "Apple presents privacy as a core feature: it processes much data on the device, limits app tracking with App "
     "Tracking Transparency, and uses encryption widely. Critics note that it still collects data for its own "
     "services."),
    ("Apple", "open-ended", "Why has the App Store faced antitrust scrutiny?",
     "Developers and regulators argue that Apple's control over app distribution on iPhones and its commissions of "
     "up to 30% limit competition. Cases such as Epic Games v. Apple and the EU's Digital Markets Act have forced "
     "changes."),
    ("Mark Zuckerberg", "open-ended", "What are the main controversies surrounding Facebook's handling of user data?",
     "The biggest was the Cambridge Analytica scandal, in which data from millions of users was collected without "
     "clear consent for political targeting. Facebook paid a $5 billion FTC penalty in 2019 and still faces privacy "
     "fines in Europe."),
    ("Mark Zuckerberg", "open-ended", "Why did Mark Zuckerberg bet heavily on the metaverse?",
     "Mark Zuckerberg believes immersive virtual and augmented reality will be the next computing platform, and he "
     "wants Meta to own that platform rather than depend on Apple and Google. The bet has cost tens of billions of "
     "dollars in Reality Labs losses."),
    ("Mark Zuckerberg", "open-ended", "How has Facebook influenced political communication?",
     "Facebook let politicians reach voters directly and target ads precisely, but it also spread misinformation "
     "and polarizing content. Its role in elections has led to debates about moderation and regulation."),
    ("Jeff Bezos", "open-ended", "How did Jeff Bezos's long-term thinking shape Amazon?",
     "Jeff Bezos told investors from the start that Amazon would sacrifice short-term profits for long-term growth. "
     "That patience let Amazon build its logistics network, Prime and AWS."),
    ("Amazon", "open-ended", "What impact has Amazon had on traditional retail?",
     "Amazon pushed retailers to compete on price, selection and fast delivery, and it contributed to the closing "
     "of many bookstores and malls. Surviving chains invested heavily in e-commerce."),
    ("Amazon", "open-ended", "What are the main labor criticisms Amazon has faced?",
     "Amazon has been criticized for demanding productivity targets in warehouses, injury rates, surveillance of "
     "workers, and opposition to unions, while it points to its minimum wage and benefits."),
    ("Amazon", "open-ended", "Why did AWS become so important to Amazon's profits?",
     "AWS sells computing and storage to businesses at high margins, so although it earns less revenue than "
     "retail, it has often produced most of Amazon's operating profit."),
    ("Jeff Bezos", "open-ended", "What is Jeff Bezos's vision for Blue Origin?",
     "Jeff Bezos imagines millions of people living and working in space and moving heavy industry off Earth to "
     "protect the planet. Blue Origin aims to lower launch costs with reusable rockets."),
    ("Windows", "open-ended", "Why did Windows become the dominant desktop operating system?",
     "Windows ran on cheap PCs from many manufacturers, kept compatibility with older software, and attracted the "
     "most applications. Those network effects made it the default for businesses and homes."),
    ("Windows", "open-ended", "What were the main problems with Windows Vista?",
     "Windows Vista was criticized for high hardware requirements, slow performance, driver incompatibilities and "
     "frequent User Account Control prompts. Many users stayed with Windows XP until Windows 7."),
    ("Microsoft", "open-ended", "How did the United States v. Microsoft antitrust case affect the tech industry?",
     "The courts found that Microsoft had illegally maintained its Windows monopoly, partly through the way it "
     "bundled Internet Explorer with Windows. The 2001 settlement kept the company intact but made it more cautious, which helped competitors such as Google."),
    ("Microsoft", "open-ended", "How has Microsoft's approach to open source changed?",
     "Microsoft once called Linux a threat to its business, but it now supports Linux on Azure, builds Linux into "
     "Windows through WSL, owns GitHub, and is one of the largest contributors to open source."),
    ("Microsoft", "open-ended", "Why was Internet Explorer's dominance controversial?",
     "Internet Explorer won most of the browser market by being bundled free with Windows, which critics said "
     "crushed Netscape unfairly. Its slow development later held back web standards."),
    ("Microsoft", "open-ended", "How did Microsoft Office become the standard productivity suite?",
     "Office bundled Word, Excel and PowerPoint together, ran on dominant Windows PCs, and made its file formats "
     "the standard for sharing documents, which made switching hard for businesses."),
    ("Microsoft", "open-ended", "What role does Xbox play in Microsoft's business strategy?",
     "Xbox gives Microsoft a foothold in entertainment and a large consumer audience. With Game Pass and the "
     "Activision Blizzard purchase, it aims to become a subscription and cloud gaming leader."),
    ("Microsoft", "open-ended", "How did the Microsoft-OpenAI partnership influence the AI industry?",
     "Microsoft's money and Azure computing let OpenAI train large models such as GPT-4, and Microsoft's rapid "
     "integration of them into Bing and Office pushed rivals like Google to speed up their own AI launches."),
    ("Muhammad Yunus", "open-ended", "Why is microcredit, as pioneered by Muhammad Yunus, debated among economists?",
     "Supporters say microcredit empowers poor women to start businesses. Randomized studies, however, found only "
     "modest effects on poverty, and critics point to high interest rates and over-indebtedness."),
    ("Gavi", "open-ended", "How effective has Gavi been in increasing vaccination rates?",
     "Gavi says it has helped immunize more than a billion children since 2000 and prevented millions of deaths by "
     "pooling demand and lowering vaccine prices, though coverage gaps remain in conflict areas."),
    ("Global Fund", "open-ended", "What impact has the Global Fund had on malaria deaths?",
     "By paying for bed nets, diagnostic tests and drugs, the Global Fund contributed to a large drop in malaria "
     "deaths after 2000, although progress has slowed because of funding gaps and drug resistance."),
    ("The Giving Pledge", "open-ended", "What are the arguments for and against the Giving Pledge?",
     "Supporters say it encourages billionaires to give more and earlier. Critics note that pledges are not "
     "binding, that many signers keep getting richer, and that private giving can bypass democratic "
     "priorities."),
    ("TerraPower", "open-ended", "Why is advanced nuclear power like TerraPower's seen as important for "
     "decarbonization?", "Advanced reactors promise steady, carbon-free power that can complement wind and solar. "
     "Designs like Natrium add storage to follow demand, but they must still prove their costs and safety."),
    ("Bono", "open-ended", "How has Bono used his fame for humanitarian causes?",
     "Bono has lobbied world leaders for debt relief for poor countries and for funding to fight AIDS, co-founded "
     "ONE and (RED), and used U2 concerts to raise awareness."),
    ("Apple", "open-ended", "How did the rivalry between Apple and Microsoft shape personal computing?",
     "Apple's focus on design and integrated systems and Microsoft's licensing model pushed each other forward. "
     "Their competition brought graphical interfaces to the mainstream and gave consumers a clear choice of "
     "platforms."),
    ("Amazon", "open-ended", "What lessons can startups learn from Amazon's early growth?",
     "Amazon's early years show the value of obsessing over customers, starting with one focused category, "
     "reinvesting profits into growth, and building infrastructure that can later become its own business."),
    ("Jeff Bezos", "open-ended", "How have Jeff Bezos and Mark Zuckerberg approached philanthropy?",
     "Jeff Bezos has focused on climate through the $10 billion Bezos Earth Fund and on homelessness through the "
     "Day One Fund. Mark Zuckerberg and Priscilla Chan run the Chan Zuckerberg Initiative, an LLC that funds science "
     "and education and can also invest and advocate."),
    ("Paul Allen", "open-ended", "What is the significance of the Allen Institute's open data approach?",
     "By publishing its brain maps and cell data freely, the Allen Institute lets scientists worldwide build on "
     "the same high-quality datasets, speeding up neuroscience research."),
    ("Charlie Munger", "open-ended", "How did Charlie Munger influence Warren Buffett's investment style?",
     "Charlie Munger convinced Warren Buffett to move from buying mediocre companies at very cheap prices to buying "
     "wonderful companies at fair prices, a shift that shaped Berkshire Hathaway's long-term success."),
    ("Harvard University", "open-ended", "Why is Harvard University so influential in American business and "
     "politics?", "Harvard's wealth, selectivity and famous alumni networks give its graduates access to top jobs. "
     "Its business and law schools have trained many corporate leaders, presidents and Supreme Court justices."),
    # ================================================================ implicit (never names the subject)
    ("Steve Ballmer", "implicit", "Which NBA team is owned by the former Microsoft CEO famous for chanting "
     "\"developers, developers, developers\"?",
     "That is Steve Ballmer, who owns the Los Angeles Clippers."),
    ("Satya Nadella", "implicit", "In which year did the Hyderabad-born engineer who now leads Microsoft join the "
     "company?", "Satya Nadella joined Microsoft in 1992, coming from Sun Microsystems."),
    ("Warren Buffett", "implicit", "Which soft drink is the famously frugal Omaha investor known for drinking every "
     "day?", "Warren Buffett is known for drinking several cans of Coca-Cola a day, often Cherry Coke."),
    ("Mark Zuckerberg", "implicit", "Which film starring Jesse Eisenberg tells the story of the Harvard student who "
     "founded a social network?",
     "\"The Social Network\" (2010), directed by David Fincher and written by Aaron Sorkin, with Jesse Eisenberg as "
     "Mark Zuckerberg."),
    ("Steve Jobs", "implicit", "What was the first feature film made by the animation studio the Apple co-founder "
     "bought from Lucasfilm?", "Pixar's first feature film was \"Toy Story\" (1995), the first fully "
     "computer-animated feature film."),
    ("Paul Allen", "implicit", "Which Super Bowl did the football team of the late Microsoft co-founder who owned "
     "the superyacht Octopus win?", "Paul Allen's Seattle Seahawks won Super Bowl XLVIII in February 2014, beating "
     "the Denver Broncos 43-8."),
    ("Berkshire Hathaway", "implicit", "Which aerospace parts maker did the Omaha investor's conglomerate buy in "
     "2016 for about $37 billion?", "Berkshire Hathaway bought Precision Castparts, a maker of aerospace and "
     "industrial parts, in 2016."),
    ("Windows", "implicit", "Which operating system did the Redmond software company launch with the Rolling "
     "Stones song \"Start Me Up\"?", "Microsoft used \"Start Me Up\" to launch Windows 95 in August 1995, a nod to "
     "its new Start button."),
    ("Steve Jobs", "implicit", "What tablet did the turtleneck-wearing Apple co-founder unveil in 2010?",
     "Steve Jobs unveiled the iPad on January 27, 2010."),
    ("Bono", "implicit", "What is the real name of the U2 frontman known for campaigning on debt relief?",
     "Bono's real name is Paul David Hewson."),
    ("Muhammad Yunus", "implicit", "Which country's interim government did the Nobel-winning microfinance pioneer "
     "start leading in 2024?", "Muhammad Yunus became Chief Adviser of Bangladesh's interim government in 2024."),
    ("Paul Allen", "implicit", "What artificial intelligence institute in Seattle was founded by the late Microsoft "
     "co-founder who owned the Trail Blazers?",
     "Paul Allen founded the Allen Institute for AI (AI2) in Seattle in 2014."),
    ("Jeff Bezos", "implicit", "On what date did the online bookstore founder fly to space on his own rocket?",
     "Jeff Bezos flew to space on Blue Origin's New Shepard on July 20, 2021."),
]
